//! End-to-end test harness: provisions an isolated stack on the emulator and PostgreSQL and runs the real service binaries.
