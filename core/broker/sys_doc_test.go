package broker

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
)

var updateSysDocs = flag.Bool("update-sys-docs", false, "rewrite docs/sys-topics.md from sysTopics and the Stats doc comments")

const sysDocsPath = "../../docs/sys-topics.md"

// statsDocs reads the doc comment of every field of Stats from stats.go, in
// declaration order, each as one line of text.
func statsDocs(t *testing.T) (names []string, docs map[string]string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "stats.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs = map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Stats" {
			return true
		}
		for _, field := range ts.Type.(*ast.StructType).Fields.List {
			for _, name := range field.Names {
				names = append(names, name.Name)
				docs[name.Name] = strings.Join(strings.Fields(field.Doc.Text()), " ")
			}
		}
		return false
	})
	if len(names) == 0 {
		t.Fatal("no Stats struct in stats.go")
	}
	return names, docs
}

// TestSysTopicsShareTheStatsDocs keeps one text per counter: every Stats
// field has a doc comment; a $SYS topic that carries a field has that
// comment as its description and publishes that field's value; and
// docs/sys-topics.md is what the table and the comments say.
func TestSysTopicsShareTheStatsDocs(t *testing.T) {
	names, docs := statsDocs(t)
	for _, n := range names {
		if !strings.HasPrefix(docs[n], n+" ") {
			t.Errorf("Stats.%s: its doc comment must start with its name, got %q", n, docs[n])
		}
	}
	// Distinct values per field, so that a topic publishing the wrong
	// field shows.
	var s Stats
	rv := reflect.ValueOf(&s).Elem()
	for i := 0; i < rv.NumField(); i++ {
		switch f := rv.Field(i); f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(1000 + i))
		case reflect.Uint64:
			f.SetUint(uint64(1000 + i))
		default:
			t.Fatalf("Stats.%s: a %s cannot be published on $SYS", rv.Type().Field(i).Name, f.Kind())
		}
	}
	b := &Broker{}
	seen := map[string]bool{}
	for _, st := range sysTopics {
		if seen[st.Topic] {
			t.Errorf("$SYS/broker/%s listed twice", st.Topic)
		}
		seen[st.Topic] = true
		var want uint64
		switch parts := strings.Split(st.Field, " + "); {
		case st.Field == "":
			if st.Topic != "version" && st.Topic != "uptime" {
				t.Errorf("$SYS/broker/%s carries no Stats field", st.Topic)
			}
			continue
		default:
			for _, p := range parts {
				if _, ok := docs[p]; !ok {
					t.Errorf("$SYS/broker/%s: %q is not a Stats field", st.Topic, p)
					continue
				}
				want += reflect.ValueOf(s).FieldByName(p).Convert(reflect.TypeOf(uint64(0))).Uint()
			}
			if len(parts) == 1 && st.Description != docs[st.Field] {
				t.Errorf("$SYS/broker/%s: its description must be the doc comment of Stats.%s:\n got: %s\nwant: %s",
					st.Topic, st.Field, st.Description, docs[st.Field])
			}
		}
		if got := st.value(b, &s); got != fmt.Sprint(want) {
			t.Errorf("$SYS/broker/%s publishes %s, want %d (Stats.%s)", st.Topic, got, want, st.Field)
		}
	}
	// Users and tests read these names; a topic may be added, never renamed.
	for _, name := range []string{"version", "uptime", "clients/connected", "clients/total", "clients/refused",
		"messages/received", "messages/sent", "messages/dropped", "bytes/received", "bytes/sent",
		"subscriptions/count", "retained messages/count", "auth/denied", "messages/dropped/queue_full",
		"messages/dropped/queue_bytes", "messages/dropped/memory_budget", "messages/dropped/qos0",
		"messages/queued/bytes", "clients/slow_consumers", "shared/handed over", "shared/dropped"} {
		if !seen[name] {
			t.Errorf("$SYS/broker/%s is no longer published", name)
		}
	}

	want := sysTopicsDoc(names, docs)
	if *updateSysDocs {
		if err := os.WriteFile(sysDocsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(sysDocsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/sys-topics.md is out of date: go test ./core/broker -run TestSysTopicsShareTheStatsDocs -update-sys-docs")
	}
}

// sysTopicsDoc is the text of docs/sys-topics.md.
func sysTopicsDoc(names []string, docs map[string]string) string {
	var w strings.Builder
	w.WriteString("# $SYS topics and broker counters\n\n")
	w.WriteString("<!-- Generated from core/broker/sys.go and the doc comments of broker.Stats\n")
	w.WriteString("     (core/broker/stats.go). Do not edit: run\n")
	w.WriteString("     go test ./core/broker -run TestSysTopicsShareTheStatsDocs -update-sys-docs -->\n\n")
	w.WriteString("Every `sys_interval` (default 10 s) the broker publishes\n")
	w.WriteString("these retained messages. Their text is the doc comment of the `broker.Stats`\n")
	w.WriteString("field each one carries, so `$SYS`, `Broker.Stats` and this page say the same.\n")
	w.WriteString("Publishing to `$SYS` is refused to clients.\n\n")
	w.WriteString("| topic | `broker.Stats` field | what it carries |\n|---|---|---|\n")
	onSys := map[string]bool{}
	for _, st := range sysTopics {
		field := ""
		if st.Field != "" {
			field = "`" + st.Field + "`"
		}
		onSys[st.Field] = true // a sum's fields are listed below on their own
		fmt.Fprintf(&w, "| `$SYS/broker/%s` | %s | %s |\n", st.Topic, field, st.Description)
	}
	w.WriteString("\n## Counters without a topic of their own\n\n")
	w.WriteString("Embedders read these with `Broker.Stats()`; `$SYS` does not carry them, or only in a sum.\n\n")
	w.WriteString("| `broker.Stats` field | what it counts |\n|---|---|\n")
	for _, n := range names {
		if !onSys[n] {
			fmt.Fprintf(&w, "| `%s` | %s |\n", n, docs[n])
		}
	}
	w.WriteString("\n## Cluster nodes\n\n")
	w.WriteString("A node of a cluster (a `cluster:` section) publishes these as well, with the others;\n")
	w.WriteString("`GET /api/v1/cluster` answers the same as JSON and `/metrics` has them as `plume_cluster_*`.\n\n")
	w.WriteString("| topic | what it carries |\n|---|---|\n")
	for _, ct := range ClusterSysTopics() {
		fmt.Fprintf(&w, "| `$SYS/broker/%s` | %s |\n", ct[0], ct[1])
	}
	return w.String()
}
