package redis

// Every Redis key the package uses is built here, under the Cache's prefix, and every
// write sets a TTL, so an abandoned key never outlives its TTL.

// accountKey is where an account (or its negative marker) is cached; k is a
// radius.AccountKey or radius.MACKey value.
func (c *Cache) accountKey(k string) string { return c.prefix + "acct:" + k }
