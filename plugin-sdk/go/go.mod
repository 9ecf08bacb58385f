module github.com/plumemq/plume/plugin-sdk/go

go 1.24
