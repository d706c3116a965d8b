-- The router address each session's accounting comes from. A NAS entry may be an address
-- range (several routers, or one whose address changes); a Disconnect or CoA must go to
-- the router that carries the session, never to the range's network address. NULL for
-- the sessions recorded before, which keep going to the NAS's own address.
ALTER TABLE sessions ADD COLUMN nas_addr inet;
