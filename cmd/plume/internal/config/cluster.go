package config

import (
	"path/filepath"

	"github.com/plumemq/plume/cluster/node"
)

// validateCluster has the node validate its section.
func (c *Config) validateCluster() error {
	if c.Cluster == nil {
		return nil
	}
	return c.Cluster.Validate()
}

// ClusterDataDir is the directory of JetStream's files: cluster.data_dir,
// else DataDirName under the broker's data directory (store.path, which
// --data-dir sets after the file is read: hence resolved when the node
// starts, not when the file is validated); "" when neither is given.
func (c *Config) ClusterDataDir() string {
	switch {
	case c.Cluster == nil || c.Cluster.External():
		return ""
	case c.Cluster.DataDir != "":
		return c.Cluster.DataDir
	case c.Store != nil && c.Store.Path != "":
		return filepath.Join(c.Store.Path, node.DataDirName)
	}
	return ""
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
	if t := cl.RouteTLS; t != nil {
		files = append(files, &t.CAFile, &t.CertFile, &t.KeyFile)
	}
	for _, f := range files {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}
