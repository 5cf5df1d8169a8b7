"""Writers turn generation requests into validated JSON: the interface, the offline and OpenAI writers."""
