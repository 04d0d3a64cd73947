"""Dynamic tiles of items, collections and searches, read only from our stores."""
