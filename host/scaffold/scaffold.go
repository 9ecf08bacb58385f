// Package scaffold creates new plugin projects (`plume plugin new`): a Go or
// Rust project with the SDK vendored in, a sample handler and a test, which
// builds and passes its test out of the box.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed all:templates
var templates embed.FS

// Languages lists the values New accepts for lang.
var Languages = []string{"go", "rust"}

var validName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// layout says, per language, which template trees go where in a project.
var layout = map[string][][2]string{
	"go":   {{"templates/go", "."}, {"templates/sdk-go", "third_party/plume-sdk-go"}},
	"rust": {{"templates/rust", "."}, {"templates/sdk-rust", "third_party/plume-sdk-rust"}},
}

// New creates the project of plugin name, in language lang, in the new
// directory dir (which must not exist, or be empty).
func New(lang, name, dir string) error {
	trees, ok := layout[lang]
	if !ok {
		return fmt.Errorf("language %q: want one of %s", lang, strings.Join(Languages, ", "))
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("name %q: use lower-case letters, digits, '-' and '_', starting with a letter", name)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // the caller names the command; the error names the path
	}
	data := struct{ Name, Crate string }{name, strings.ReplaceAll(name, "-", "_")}
	for _, t := range trees {
		err := fs.WalkDir(templates, t[0], func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel := strings.TrimPrefix(p, t[0]+"/")
			out := filepath.Join(dir, t[1], filepath.FromSlash(rel))
			b, err := templates.ReadFile(p)
			if err != nil {
				return err
			}
			if rel == "gitignore.tmpl" { // embed skips dot files by name only with all:
				rel, out = ".gitignore.tmpl", filepath.Join(filepath.Dir(out), ".gitignore.tmpl")
			}
			switch path.Ext(rel) {
			case ".tmpl":
				out = strings.TrimSuffix(out, ".tmpl")
				tpl, err := template.New(rel).Option("missingkey=error").Parse(string(b))
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := tpl.Execute(&buf, data); err != nil {
					return err
				}
				b = buf.Bytes()
			case ".txt": // vendored SDK sources, stored inert
				out = strings.TrimSuffix(out, ".txt")
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			return fmt.Errorf("write the project: %w", err)
		}
	}
	return nil
}
