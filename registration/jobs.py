"""RQ jobs of the registration service (reg-crm fills in the job itself: registration.jobs.push_registration)."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from crmsync import queue as queues
from crmsync.config import Config

PUSH_JOB = "registration.jobs.push_registration"


def enqueue_push(config: Config, registration_id: str) -> None:
    """Queue the push of a confirmed registration to the CRM on the product's queue (idempotent there:
    the job matches on the registration's id)."""
    queue = Queue(config.queue_name, connection=Redis.from_url(config.redis_url))
    queue.enqueue(PUSH_JOB, registration_id, job_id=f"registration-push-{registration_id}",
                  retry=queues.retry_policy(config))
