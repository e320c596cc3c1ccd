"""How many writes all workers have at one CRM at once: a Redis semaphore keyed by the CRM's URL.

SuiteCRM's search index serialises writes, and writers waiting for it make every write slower: one
sequential client gets 13 writes/s from a real 7.14.6, four parallel ones about 5/s in total. So the
connector's processes, however many there are and on whatever machines, share
CRM_MAX_CONCURRENT_WRITES slots per CRM.

A slot is a member of a sorted set scored by when it expires: a worker killed while it held one loses
it after the lease (longer than one CRM call may take), never for good. A waiting worker blocks on a
wake-up list that each release pushes to, so the next write starts as soon as the last one ended.

This is about the CRM's speed, not about correctness (ordering is the database's, crm_connector/
ordering.py): with Redis away the limit is not kept and the write goes ahead.
"""

from __future__ import annotations

import hashlib
import uuid
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

# KEYS[1] the slots, ARGV: lease seconds, holder, limit. 1 when the holder got a slot. Redis's own clock
# scores the slots, so workers on machines whose clocks differ agree on when a slot ran out.
_ACQUIRE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
  return 1
end
return 0
"""
# KEYS[1] the slots, KEYS[2] the wake-up list, ARGV[1] the holder. One wake-up is enough: it lets one waiter in.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], 1)
redis.call('LTRIM', KEYS[2], 0, 0)
redis.call('EXPIRE', KEYS[2], 60)
return 1
"""
WAKE_WAIT_SECONDS = 0.5  # a waiter looks again at least this often (a slot whose holder died expires)


class WriteSlots:
    def __init__(self, redis: Redis | None, crm_url: str, limit: int, lease_seconds: float):
        self.redis, self.limit, self.lease_seconds = redis, limit, lease_seconds
        key = hashlib.sha256(crm_url.rstrip("/").encode()).hexdigest()[:16]
        self.key, self.wake_key = f"crmsync:crm-writes:{key}", f"crmsync:crm-writes:{key}:wake"
        if redis is not None:
            self._acquire = redis.register_script(_ACQUIRE)
            self._release = redis.register_script(_RELEASE)

    @contextmanager
    def slot(self):
        """Hold one of the CRM's write slots for the block (no limit: 0, or no Redis)."""
        if not self.limit or self.redis is None:
            yield
            return
        holder = self._take()
        try:
            yield
        finally:
            if holder is not None:
                try:
                    self._release(keys=[self.key, self.wake_key], args=[holder])
                except RedisError:
                    pass  # it expires by itself

    def _take(self) -> str | None:
        holder = str(uuid.uuid4())
        try:
            while True:
                if self._acquire(keys=[self.key], args=[self.lease_seconds, holder, self.limit]):
                    return holder
                self.redis.blpop([self.wake_key], timeout=WAKE_WAIT_SECONDS)
        except RedisError:
            return None  # the limit is about the CRM's speed: without Redis the write goes ahead
