"""Drop-in views of modserve for clients written against other moderation APIs.

Each module maps the native signals (``deployments.signals``) onto one foreign contract and
parses that contract's requests; none of them imports Ray, so the mappings are unit-tested
without a running graph. The ingress only routes requests to them.
"""
