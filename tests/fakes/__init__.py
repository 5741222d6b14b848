"""Test doubles of what lives outside the process (language-model APIs), shared by test suites."""
