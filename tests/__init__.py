"""The test suite is a package, so `import leverplus` inside it is the working tree's, never tests/leverplus."""
