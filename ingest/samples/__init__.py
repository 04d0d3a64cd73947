"""Real sample products served on loopback: the offline demo and the tests use them."""
