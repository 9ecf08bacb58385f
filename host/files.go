package host

import (
	"crypto/sha256"
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

// validateFiles is validate's part for data files.
func (p *PluginConfig) validateFiles() error {
	for _, k := range p.Files {
		if _, err := parseFileKey(k); err != nil {
			return setting.Errorf("files", "%w", err)
		}
	}
	if len(p.Files) > 0 && (p.Builtin != "" || p.BuiltinFiles != nil) {
		keys := strings.Join(p.BuiltinFiles, ", ")
		if keys == "" {
			keys = "none"
		}
		return setting.Errorf("files", "a built-in declares the config keys that name its files itself (%s: %s)", p.Builtin, keys)
	}
	_, err := p.fileRefs()
	return err
}

// ResolveFiles makes each relative path named by a file key of p's config
// relative to dir, as the broker binary does with every path of its config
// file (dir is that file's folder). Other values are left as they are.
func (p *PluginConfig) ResolveFiles(dir string) error {
	refs, err := p.fileRefs()
	if err != nil {
		return err
	}
	var paths []setPath
	for _, r := range refs {
		if !filepath.IsAbs(r.path) {
			paths = append(paths, setPath{at: r.at, val: filepath.Join(dir, r.path)})
		}
	}
	p.Config, err = setStrings(p.Config, paths)
	return err
}

// filePaths lists the absolute paths of the data files p's config names,
// each once, without reading them; nil if the config does not say (validate
// reports why).
func (p *PluginConfig) filePaths() []string {
	refs, _ := p.fileRefs()
	var out []string
	for _, r := range refs {
		if abs, err := filepath.Abs(r.path); err == nil && !slices.Contains(out, abs) {
			out = append(out, abs)
		}
	}
	return out
}

// dataFiles is what one module of a plugin was given: the files as read,
// and once written, the snapshot they are served from.
type dataFiles struct {
	files  []dataFile
	sum    [sha256.Size]byte // of every path and content: unchanged files need no reload
	dir    string            // the snapshot; "" until write
	mounts []mount
}

// dataFile is one file, read once however many config values name it (two
// rules may share a schema file).
type dataFile struct {
	path string    // absolute on the host
	refs []fileRef // the config values naming it
	data []byte
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
		fmt.Fprintf(h, "%s\x00%s\x00", r.key, abs)
		if i := slices.IndexFunc(d.files, func(f dataFile) bool { return f.path == abs }); i >= 0 {
			d.files[i].refs = append(d.files[i].refs, r)
			continue
		}
		for _, dir := range pc.AllowFS {
			if a, err := filepath.Abs(dir); err == nil && within(abs, a) {
				return nil, fmt.Errorf("config key %q: %s is inside allow_fs %s: a data file is given alone, not with its folder; drop one", r.key, abs, dir)
			}
		}
		b, err := readRegular(abs)
		if err != nil {
			return nil, fmt.Errorf("config key %q: %w", r.key, err)
		}
		d.files = append(d.files, dataFile{path: abs, refs: []fileRef{r}, data: b})
	}
	for _, f := range d.files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.path, len(f.data))
		h.Write(f.data)
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
	var guest []setPath
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
			for _, r := range f.refs {
				guest = append(guest, setPath{at: r.at, val: guestPath(f.path)})
			}
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
