module github.com/plumemq/plume/examples/plugins/auth-go

go 1.26.8

require (
	github.com/plumemq/plume v0.0.0
	github.com/plumemq/plume/plugin-sdk/go v0.0.0
)

require (
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

// Hashes are read with the broker's package plugins/passwd (what plume
// passwd writes); outside this repository, require a published version.
replace (
	github.com/plumemq/plume => ../../..
	github.com/plumemq/plume/plugin-sdk/go => ../../../plugin-sdk/go
)
