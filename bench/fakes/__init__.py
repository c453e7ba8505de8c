"""Local servers that speak arXiv's RSS and Atom, OpenAI's chat, Files and Batches APIs and
SendGrid's v3 mail send, on 127.0.0.1: the benchmarks time the real clients against them, and
the test suite (tests/conftest.py) serves each test from them."""
