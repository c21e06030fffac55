"""What every piece of the provider needs: ARNs, Fargate sizes, tags, idempotency tokens, batching,
prices, AWS error codes, masking and networks."""
