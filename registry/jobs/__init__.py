"""Background jobs: the queue (huey), the job rows, the tasks and the schedule."""
