package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/host"
)

// pluginPromote is `plume plugin promote NAME --config FILE`: the chain
// entry's shadow takes the serving place, by an edit of the config file. A
// running plume watches its file and reloads the plugin section, so the
// candidate serves within a reload, with the guarantees of any reload
// (docs/decisions/0028-shadow-plugins.md): no connection dropped, the old
// module serving until the new one is ready.
func pluginPromote(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plume plugin promote", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the config file the broker runs with (required)")
	keepOld := fs.Bool("keep-old", false, "make the plugin that served the new shadow, so that promote again rolls back")
	if err := fs.Parse(reorder(args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *path == "" {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	if err := promote(*path, fs.Arg(0), *keepOld); err != nil {
		fmt.Fprintln(stderr, "plume plugin promote:", err)
		return 1
	}
	old := "removed"
	if *keepOld {
		old = "now its shadow"
	}
	fmt.Fprintf(stdout, "%s: the shadow of %q now serves (the plugin that served is %s); a running plume watching the file reloads it, else send it SIGHUP\n",
		*path, fs.Arg(0), old)
	return 0
}

// The keys of a chain entry that belong to its place in the chain, not to
// the plugin in it: they stay when the shadow moves in.
var placeKeys = map[string]bool{"name": true, "on_error": true}

// promote rewrites the config file at path so that the shadow of the chain
// entry called name serves in its place. The file is edited as a YAML tree,
// so comments stay; the result must parse to exactly the config expected
// (the entry swapped, all else equal), or the file is left as it was.
func promote(path, name string, keepOld bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	before, err := config.Parse(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s does not load as it is: %w", path, err)
	}
	i := -1
	for j, p := range before.Plugins.Plugins {
		if p.Name == name {
			i = j
		}
	}
	switch {
	case i < 0:
		return fmt.Errorf("%s: no plugin called %q in plugins.chain", path, name)
	case before.Plugins.Plugins[i].Shadow == nil:
		return fmt.Errorf("%s: plugin %q has no shadow to promote", path, name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	entry, err := chainEntry(&doc, i)
	if err != nil {
		return fmt.Errorf("%s: cannot edit plugins.chain[%d] safely: %w", path, i, err)
	}
	swapShadow(entry, keepOld)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	want := before
	want.Plugins.Plugins = append([]host.PluginConfig(nil), before.Plugins.Plugins...)
	want.Plugins.Plugins[i] = promoted(before.Plugins.Plugins[i], keepOld)
	got, err := config.Parse(bytes.NewReader(out.Bytes()))
	if err != nil || !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%s: the edited file would not say what promote means (%v); edit it by hand", path, err)
	}
	return writeAtomic(path, out.Bytes())
}

// promoted is what chain entry pc becomes: its shadow's plugin in its place.
func promoted(pc host.PluginConfig, keepOld bool) host.PluginConfig {
	s := pc.Shadow
	out := s.PluginConfig
	out.Name, out.OnError, out.Shadow = pc.Name, pc.OnError, nil
	if keepOld {
		old := pc
		old.Name, old.OnError, old.Shadow = "", host.OnError{}, nil
		out.Shadow = &host.ShadowConfig{PluginConfig: old, Queue: s.Queue}
	}
	return out
}

// chainEntry finds plugins.chain[i] in doc, refusing what an edit of one
// node cannot change alone: anchors, aliases and merge keys.
func chainEntry(doc *yaml.Node, i int) (*yaml.Node, error) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, key := range []string{"plugins", "chain"} {
		if n = mapValue(n, key); n == nil {
			return nil, fmt.Errorf("no %s", key)
		}
	}
	if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil, errors.New("the chain is not a plain list")
	}
	entry := n.Content[i]
	shadow := mapValue(entry, "shadow")
	for _, m := range []*yaml.Node{entry, shadow} {
		if m == nil || m.Kind != yaml.MappingNode || m.Anchor != "" {
			return nil, errors.New("it or its shadow is an alias or an anchor")
		}
		for k := 0; k+1 < len(m.Content); k += 2 {
			if m.Content[k].ShortTag() == "!!merge" {
				return nil, errors.New("it merges keys from elsewhere (<<)")
			}
		}
	}
	return entry, nil
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			return n.Content[k+1]
		}
	}
	return nil
}

// swapShadow rewrites entry's keys: its place keys, then its shadow's
// plugin keys; with keepOld, its own plugin keys become the new shadow
// (with the old shadow's queue).
func swapShadow(entry *yaml.Node, keepOld bool) {
	shadow := mapValue(entry, "shadow")
	var place, plugin, queue []*yaml.Node
	for k := 0; k+1 < len(entry.Content); k += 2 {
		pair := entry.Content[k : k+2]
		switch key := pair[0].Value; {
		case placeKeys[key]:
			place = append(place, pair...)
		case key != "shadow":
			plugin = append(plugin, pair...)
		}
	}
	content := place
	for k := 0; k+1 < len(shadow.Content); k += 2 {
		pair := shadow.Content[k : k+2]
		if pair[0].Value == "queue" {
			queue = pair
			continue
		}
		content = append(content, pair...)
	}
	if keepOld {
		old := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: shadow.Style, Content: append(plugin, queue...)}
		content = append(content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "shadow"}, old)
	}
	entry.Content = content
}
