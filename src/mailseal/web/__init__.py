"""Layer 6 beside the gateway: the admin console, its REST API (/api/v1) and, later, the recipient portal."""
