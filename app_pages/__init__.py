"""The app's pages; ``ui`` holds what they share (language, user, cached library calls)."""
