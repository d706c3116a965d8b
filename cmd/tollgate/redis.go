package main

import (
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// REDIS_URL names one Redis, redis://[:PASSWORD@]HOST:PORT/DB (rediss:// for TLS), or a
// Redis whose master Sentinel watches:
//
//	redis+sentinel://[:SENTINEL-PASSWORD@]SENTINEL:26379/DB?master_name=NAME&addr=SENTINEL2:26379&password=PASSWORD
//
// (rediss+sentinel:// for TLS): the host and every addr are Sentinels, master_name the
// master they watch, password the master's own. Either way tollgate holds a go-redis
// UniversalClient; with Sentinel it follows a failover to the new master by itself.

// redisTarget is a parsed REDIS_URL: one of single and failover is set.
type redisTarget struct {
	single   *goredis.Options
	failover *goredis.FailoverOptions
}

// parseRedisURL reads REDIS_URL.
func parseRedisURL(s string) (redisTarget, error) {
	for _, scheme := range []string{"redis+sentinel://", "rediss+sentinel://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			fo, err := goredis.ParseFailoverURL(strings.TrimSuffix(scheme, "+sentinel://") + "://" + rest)
			if err != nil {
				return redisTarget{}, err
			}
			if fo.MasterName == "" {
				return redisTarget{}, errString("a Sentinel URL needs ?master_name=NAME")
			}
			return redisTarget{failover: fo}, nil
		}
	}
	o, err := goredis.ParseURL(s)
	if err != nil {
		return redisTarget{}, err
	}
	return redisTarget{single: o}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// client opens the target with tollgate's settings: a pool for the RADIUS workers, every
// call bound by its context, and short timeouts, so that with Redis gone a request falls
// back to Postgres (radius.Accounts) instead of waiting out the packet's deadline.
func (t redisTarget) client() goredis.UniversalClient {
	const pool, timeout = 64, time.Second
	if t.failover != nil {
		fo := t.failover
		fo.PoolSize, fo.ContextTimeoutEnabled = pool, true
		fo.DialTimeout, fo.ReadTimeout, fo.WriteTimeout = timeout, timeout, timeout
		return goredis.NewFailoverClient(fo)
	}
	o := t.single
	o.PoolSize, o.ContextTimeoutEnabled = pool, true
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
	return goredis.NewClient(o)
}
