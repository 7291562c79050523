"""Reminders and notifications: what falls due (computed from the records as of an
instant), who is told, the outbox that sends each reminder once per due item and
channel, e-mail over SMTP and signed webhooks. Functions take a session and never
commit; ``registry notify scan`` and ``registry notify deliver`` run them."""
