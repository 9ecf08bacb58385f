// Package docscheck holds the tests that keep Plume's documents and comments
// honest against the code: docs/ARCHITECTURE.md names files and functions that
// exist and states the import rule the packages keep, the README's layout
// matches `go list ./...`, every decision record carries a status, and every
// spec tag in the code names a real statement of conformance/statements.txt.
//
// It has no code of its own besides these tests; it lives in internal/ so that
// nothing outside the module imports it.
package docscheck
