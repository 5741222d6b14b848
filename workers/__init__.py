"""Dramatiq edge: broker set-up and small idempotent actors that take ids."""
