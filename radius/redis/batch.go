package redis

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch is the most requests one pipeline carries.
const maxBatch = 128

// queueSize bounds the requests waiting for a batching loop; a full queue makes a
// caller wait (within its ctx) rather than grow memory.
const queueSize = 1024

// batcher gathers the requests of concurrent callers into pipelines, so that many
// requests in flight share one round trip. Without its loops (before start, after
// close) each request runs on its own.
type batcher struct {
	rdb   redis.UniversalClient
	loops int
	// channel is where invalidation lines are published (local.go).
	channel string

	// mu guards state; do holds it for reading while it enqueues, so that after close
	// has taken it once no request can be left in the queue.
	mu    sync.RWMutex
	state int // stateNew, stateRunning or stateClosed
	queue chan *request
	quit  chan struct{}
	wg    sync.WaitGroup
}

const (
	stateNew = iota
	stateRunning
	stateClosed
)

func newBatcher(rdb redis.UniversalClient, loops int, channel string) batcher {
	if loops <= 0 {
		loops = 1
	}
	return batcher{
		rdb:     rdb,
		loops:   loops,
		channel: channel,
		queue:   make(chan *request, queueSize),
		quit:    make(chan struct{}),
	}
}

// start runs the loops. Calling it again, or after close, does nothing.
func (b *batcher) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateNew {
		return
	}
	b.state = stateRunning
	for range b.loops {
		b.wg.Add(1)
		go b.loop(b.rdb.Pipeline(), b.channel)
	}
}

// close stops the loops after they answered every queued request. Calling it twice is
// safe.
func (b *batcher) close() {
	b.mu.Lock()
	running := b.state == stateRunning
	b.state = stateClosed
	b.mu.Unlock()
	if running {
		close(b.quit)
	}
	b.wg.Wait()
}

// op says which commands a request sends.
type op uint8

const (
	// opGet is a GET of key.
	opGet op = iota
	// opAuth is what an Access-Request reads: GET key, HMGET usageKey uptime bytes,
	// GET genKey, ZCOUNT onlineKey min +inf (or ZRANGEBYSCORE with scores).
	opAuth
	// opEval runs script on keys and args (EVALSHA; EVAL when Redis lost the script).
	opEval
	// opSet is a SET of key to val with the TTL ttl.
	opSet
)

// request is one caller's commands. Requests are pooled; one whose caller gave up is
// left to the garbage collector, since a loop may still answer it.
type request struct {
	op                  op
	key                 string
	usageKey, onlineKey string
	genKey              string
	min                 string
	scores              bool // opAuth: the online deadlines (ZRANGEBYSCORE) rather than their count
	script              *redis.Script
	val                 []byte
	ttl                 time.Duration
	keys                []string
	args                []any

	// The results, set before done is signalled.
	get  *redis.StringCmd
	set  *redis.StatusCmd
	hm   *redis.SliceCmd
	zc   *redis.IntCmd
	zs   *redis.ZSliceCmd
	gen  *redis.StringCmd
	eval *redis.Cmd
	// inval, when set, is a line for the invalidation message the pipeline ends with.
	inval string

	done chan struct{} // capacity 1: a loop never blocks on an abandoned request
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func newRequest(o op) *request {
	r := requestPool.Get().(*request)
	r.op = o
	return r
}

// release returns r to the pool. Only a request whose do returned nil may be released.
func (r *request) release() {
	*r = request{done: r.done}
	requestPool.Put(r)
}

// send queues r's commands on p.
func (r *request) send(ctx context.Context, p redis.Pipeliner) {
	switch r.op {
	case opGet:
		r.get = p.Get(ctx, r.key)
	case opAuth:
		r.get = p.Get(ctx, r.key)
		r.hm = p.HMGet(ctx, r.usageKey, fieldUptime, fieldBytes)
		r.gen = p.Get(ctx, r.genKey)
		if r.scores {
			r.zs = p.ZRangeByScoreWithScores(ctx, r.onlineKey, &redis.ZRangeBy{Min: r.min, Max: "+inf"})
		} else {
			r.zc = p.ZCount(ctx, r.onlineKey, r.min, "+inf")
		}
	case opEval:
		r.eval = r.script.EvalSha(ctx, p, r.keys, r.args...)
	case opSet:
		r.set = p.Set(ctx, r.key, r.val, r.ttl)
	}
}

// do runs r, through a loop when they run, and returns once its results are set. The
// error is ctx's; Redis errors are in the results.
func (b *batcher) do(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	if b.state != stateRunning {
		b.mu.RUnlock()
		b.direct(ctx, r)
		return nil
	}
	select {
	case b.queue <- r:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.op == opEval && redis.HasErrorPrefix(r.eval.Err(), "NOSCRIPT") {
		// Redis restarted or flushed its scripts: Run loads it again with EVAL.
		r.eval = r.script.Run(ctx, b.rdb, r.keys, r.args...)
		if r.inval != "" {
			_ = b.rdb.Publish(ctx, b.channel, r.inval).Err()
		}
	}
	return nil
}

// direct runs r on its own: one command, or one pipeline for opAuth.
func (b *batcher) direct(ctx context.Context, r *request) {
	switch r.op {
	case opGet:
		r.get = b.rdb.Get(ctx, r.key)
	case opEval:
		r.eval = r.script.Run(ctx, b.rdb, r.keys, r.args...)
	case opSet:
		r.set = b.rdb.Set(ctx, r.key, r.val, r.ttl)
	default:
		p := b.rdb.Pipeline()
		r.send(ctx, p)
		_, _ = p.Exec(ctx) // each result holds its own error
	}
	if r.inval != "" {
		_ = b.rdb.Publish(ctx, b.channel, r.inval).Err() // after the write it follows
	}
}

// loop answers queued requests: it takes the first, adds whatever else is already
// waiting (up to maxBatch) and sends them all as one pipeline. pipe is its own.
func (b *batcher) loop(pipe redis.Pipeliner, channel string) {
	defer b.wg.Done()
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case r := <-b.queue:
			batch = append(batch, r)
		case <-b.quit:
			// No request can be queued any more (close held mu): answer the rest.
			for {
				batch = drain(b.queue, batch)
				if len(batch) == 0 {
					return
				}
				run(pipe, batch, channel)
				clear(batch)
				batch = batch[:0]
			}
		}
		batch = drain(b.queue, batch)
		run(pipe, batch, channel)
		clear(batch)
		batch = batch[:0]
	}
}

// drain appends the requests already queued to batch, up to maxBatch.
func drain(queue <-chan *request, batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r := <-queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// run sends the commands of batch as one pipeline and answers each request. The
// requests' invalidation lines go in one message on channel, after their commands.
func run(pipe redis.Pipeliner, batch []*request, channel string) {
	// The loop's context: callers' deadlines are enforced where they wait, and the
	// client's read and write timeouts bound the round trip.
	ctx := context.Background()
	var inval strings.Builder
	for _, r := range batch {
		r.send(ctx, pipe)
		if r.inval != "" {
			if inval.Len() > 0 {
				inval.WriteByte('\n')
			}
			inval.WriteString(r.inval)
		}
	}
	if inval.Len() > 0 {
		pipe.Publish(ctx, channel, inval.String())
	}
	// Exec reports the first failed command, redis.Nil included: each result holds
	// its own error instead.
	_, _ = pipe.Exec(ctx)
	for _, r := range batch {
		r.done <- struct{}{}
	}
}
