"""Apply: the executor that carries a plan out (submission with write-ahead intents, recovery,
polling) and the rate limiter with its retry policy.
"""
