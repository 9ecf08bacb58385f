package config

import (
	"path/filepath"

	"github.com/plumemq/plume/cluster/node"
)

// validateCluster gives the cluster section the default only the binary
// knows, JetStream's directory under the broker's data directory
// (store.path, --data-dir), then has the node validate the rest.
func (c *Config) validateCluster() error {
	cl := c.Cluster
	if cl == nil {
		return nil
	}
	if cl.DataDir == "" && !cl.External() && c.Store != nil && c.Store.Path != "" {
		cl.DataDir = filepath.Join(c.Store.Path, node.DataDirName)
	}
	return cl.Validate()
}

// resolveClusterFiles makes the cluster section's paths relative to the
// config file's directory dir absolute.
func resolveClusterFiles(cl *node.Config, dir string) {
	if cl == nil {
		return
	}
	files := []*string{&cl.DataDir, &cl.Credentials}
	if t := cl.TLS; t != nil {
		files = append(files, &t.CAFile, &t.CertFile, &t.KeyFile)
	}
	for _, f := range files {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}
