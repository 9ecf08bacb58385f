package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/plumemq/plume/core/setting"
)

// A plugin's data files (a password file, an ACL, a JWKS) are named by keys
// of its JSON config (PluginConfig.Files, PluginConfig.BuiltinFiles). The host
// reads them, copies them into a private folder of their own (a snapshot) and
// mounts that folder read-only in the guest at the path of the original
// folder, so that the plugin opens the path its config gives and sees that
// file and nothing else of the folder (which may hold TLS keys). A change to
// one of them reloads the plugin as a change to its .wasm does.
// docs/decisions/0023-plugin-data-files.md says why.

// fileRef is one data file of a chain entry: the config key naming it and
// the path the config gives.
type fileRef struct {
	key, path string
}

// fileKeys is every config key of p that names a file: its own Files and
// its built-in's, in that order, each once.
func (p *PluginConfig) fileKeys() []string {
	keys := slices.Clone(p.Files)
	for _, k := range p.BuiltinFiles {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// fileRefs reads the file keys out of p's config. A key listed in Files
// must be there, since the entry's author wrote both; one a built-in
// declares may be absent (an optional file, such as jwt's jwks_file). A key
// that is there must hold a non-empty string.
func (p *PluginConfig) fileRefs() ([]fileRef, error) {
	keys := p.fileKeys()
	if len(keys) == 0 || (len(p.Files) == 0 && len(bytes.TrimSpace(p.Config)) == 0) {
		return nil, nil // no keys, or a built-in's optional files and no config
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p.Config, &obj); err != nil || obj == nil {
		return nil, setting.Errorf("config", "must be a mapping of keys: the plugin reads files named by its keys %s", strings.Join(keys, ", "))
	}
	var refs []fileRef
	for _, k := range keys {
		raw, ok := obj[k]
		if !ok {
			if slices.Contains(p.Files, k) {
				return nil, setting.Errorf("files", "%q is not a key of config", k)
			}
			continue
		}
		var path string
		if err := json.Unmarshal(raw, &path); err != nil || path == "" {
			return nil, setting.Errorf("config."+k, "must be the path of a file, a string (it is in files: %s)", strings.Join(keys, ", "))
		}
		refs = append(refs, fileRef{key: k, path: path})
	}
	return refs, nil
}

// validateFiles is validate's part for data files.
func (p *PluginConfig) validateFiles() error {
	for _, k := range p.Files {
		if k == "" {
			return setting.Errorf("files", "a key name is empty")
		}
	}
	if len(p.Files) > 0 && (p.Builtin != "" || p.BuiltinFiles != nil) {
		return setting.Errorf("files", "a built-in declares the keys of its files itself (%s)", strings.Join(p.BuiltinFiles, ", "))
	}
	_, err := p.fileRefs()
	return err
}

// ResolveFiles makes each relative path named by a file key of p's config
// relative to dir, as the broker binary does with every path of its config
// file (dir is that file's folder). Other keys are left as they are.
func (p *PluginConfig) ResolveFiles(dir string) error {
	refs, err := p.fileRefs()
	if err != nil {
		return err
	}
	paths := map[string]string{}
	for _, r := range refs {
		if !filepath.IsAbs(r.path) {
			paths[r.key] = filepath.Join(dir, r.path)
		}
	}
	p.Config, err = setStrings(p.Config, paths)
	return err
}

// setStrings sets keys of the JSON object config to string values.
func setStrings(config []byte, vals map[string]string) ([]byte, error) {
	if len(vals) == 0 {
		return config, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(config, &obj); err != nil {
		return nil, err
	}
	for k, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		obj[k] = b
	}
	return json.Marshal(obj)
}

// dataFiles is what one module of a plugin was given: the files as read,
// and once written, the snapshot they are served from.
type dataFiles struct {
	files  []dataFile
	sum    [sha256.Size]byte // of every path and content: unchanged files need no reload
	dir    string            // the snapshot; "" until write
	mounts []mount
}

type dataFile struct {
	key, path string // path: absolute on the host
	data      []byte
}

// mount is a host folder mounted read-only in the guest at guest.
type mount struct{ host, guest string }

// readDataFiles reads the data files of pc whole, each at one moment.
func readDataFiles(pc PluginConfig) (*dataFiles, error) {
	refs, err := pc.fileRefs()
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	d := &dataFiles{}
	h := sha256.New()
	for _, r := range refs {
		abs, err := filepath.Abs(r.path)
		if err != nil {
			return nil, fmt.Errorf("config key %q: %w", r.key, err)
		}
		for _, dir := range pc.AllowFS {
			if a, err := filepath.Abs(dir); err == nil && (abs == a || strings.HasPrefix(abs, a+string(filepath.Separator))) {
				return nil, fmt.Errorf("config key %q: %s is inside allow_fs %s: a data file is given alone, not with its folder; drop one", r.key, abs, dir)
			}
		}
		b, err := readRegular(abs)
		if err != nil {
			return nil, fmt.Errorf("config key %q: %w", r.key, err)
		}
		d.files = append(d.files, dataFile{key: r.key, path: abs, data: b})
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", r.key, abs, len(b))
		h.Write(b)
	}
	copy(d.sum[:], h.Sum(nil))
	return d, nil
}

// readRegular reads the regular file at path (through symbolic links, as a
// Kubernetes ConfigMap's are), refusing a folder or a device.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return os.ReadFile(path)
}

// sumOrZero is d's sum, zero for no files.
func (d *dataFiles) sumOrZero() [sha256.Size]byte {
	if d == nil {
		return [sha256.Size]byte{}
	}
	return d.sum
}

// paths lists the host paths of the files.
func (d *dataFiles) paths() []string {
	if d == nil {
		return nil
	}
	out := make([]string, len(d.files))
	for i, f := range d.files {
		out[i] = f.path
	}
	return out
}

// write copies the files into a new private folder (0700, under the
// system's temporary folder), one subfolder per folder mounted in the guest,
// and returns the config with each file key naming the path the guest opens.
// A folder that holds another's files is mounted alone, the other's files in
// a subfolder of its snapshot, so that no two mounts nest.
func (d *dataFiles) write(config []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "plume-plugin-files-")
	if err != nil {
		return nil, fmt.Errorf("snapshot data files: %w", err)
	}
	d.dir = dir
	var roots []string
	for _, f := range d.files {
		roots = append(roots, filepath.Dir(f.path))
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	roots = slices.DeleteFunc(roots, func(r string) bool {
		return slices.ContainsFunc(roots, func(o string) bool { return o != r && within(r, o) })
	})
	guest := map[string]string{}
	for i, root := range roots {
		snap := filepath.Join(dir, fmt.Sprint(i))
		d.mounts = append(d.mounts, mount{host: snap, guest: guestPath(root)})
		for _, f := range d.files {
			if !within(f.path, root) {
				continue
			}
			rel, _ := filepath.Rel(root, f.path)
			to := filepath.Join(snap, rel)
			if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
				return nil, fmt.Errorf("snapshot data files: %w", err)
			}
			if err := os.WriteFile(to, f.data, 0o600); err != nil {
				return nil, fmt.Errorf("snapshot data files: %w", err)
			}
			guest[f.key] = guestPath(f.path)
		}
	}
	return setStrings(config, guest)
}

// remove deletes the snapshot, once the module's last instance is closed.
func (d *dataFiles) remove() error {
	if d == nil || d.dir == "" {
		return nil
	}
	err := os.RemoveAll(d.dir)
	d.dir = ""
	return err
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// guestPath is where the guest finds a host path: the same path, so that a
// plugin's errors name the file the operator knows, written with slashes
// from the root as WASI paths are (a Windows volume name dropped).
func guestPath(p string) string {
	p = filepath.ToSlash(strings.TrimPrefix(p, filepath.VolumeName(p)))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
