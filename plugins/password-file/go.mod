module github.com/plumemq/plume/plugins/password-file

go 1.26.8

require (
	github.com/plumemq/plume v0.0.0
	github.com/plumemq/plume/plugin-sdk/go v0.0.0
)

require (
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// The hashes live in the broker's module (plugins/passwd), shared with
// `plume passwd`; the plugin builds from this repository, never from a
// published version (docs/decisions/0024-password-file.md).
replace (
	github.com/plumemq/plume => ../..
	github.com/plumemq/plume/plugin-sdk/go => ../../plugin-sdk/go
)
