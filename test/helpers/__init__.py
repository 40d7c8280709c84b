"""Programs and utilities that the tests run in separate processes."""
