module github.com/plumemq/plume/plugins/jwt

go 1.24

require github.com/plumemq/plume/plugin-sdk/go v0.0.0

replace github.com/plumemq/plume/plugin-sdk/go => ../../plugin-sdk/go
