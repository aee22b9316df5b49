"""WebSub push: the built-in hub's worker (verification of requests, deliveries to
subscribers, pings of external hubs), fed by the store's outbox. The only package that
sends requests to other machines (httpx)."""
