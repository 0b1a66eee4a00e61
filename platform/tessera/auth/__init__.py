"""Identity and permissions: users, sign-in tokens, and who is acting."""
