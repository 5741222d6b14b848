"""Language-model providers: the offline interpreter (``local``), any OpenAI-compatible API,
Anthropic; and the router that tries them in order with retries, breakers and rate limits."""
