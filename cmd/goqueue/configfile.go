package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// A configuration file is YAML. Its top-level keys are the flags' names
// (data-dir, fsync-interval, ...); camelCase spellings of them
// (fsyncInterval) are read alike. The consumer-groups guide sets the group
// timeouts under a "consumer" section (consumer: sessionTimeout: "30s"),
// so the consumer-group settings may also be given there.
//
// Precedence, lowest first: the embedded default, the file, the GOQUEUE_*
// environment, the command line.

// configEnv names the file when --config is not given.
const configEnv = envPrefix + "CONFIG"

// sections are the nested mappings a file may hold, and the flags each may
// set. A flag set both at the top level and in its section is a problem.
var sections = map[string][]string{
	"consumer": {
		"session-timeout", "min-session-timeout", "max-session-timeout", "heartbeat-interval",
		"max-rebalance-timeout", "assignor", "max-retries", "backoff-base", "backoff-max",
		"visibility-timeout", "max-in-flight",
	},
}

// notInFile are flags that only make sense on a command line.
var notInFile = map[string]bool{"config": true, "help": true, "version": true}

// clientOnly are keys of the guide's client configuration that a broker
// file might be given by mistake: refused with a hint instead of "unknown".
var clientOnly = map[string]bool{"auto-commit": true, "auto-commit-interval": true, "group-id": true, "topics": true, "brokers": true, "offset-reset": true}

// fileSetting is one value read from a configuration file.
type fileSetting struct {
	value string // as a flag would take it on the command line
	where string // file:line key, for messages and `goqueue config`
}

// readConfigFile reads path and returns the value of each flag it sets.
// Every unknown key and malformed value is returned, not just the first.
func readConfigFile(path string, fs *pflag.FlagSet) (map[string]fileSetting, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("config file: %v", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []error{fmt.Errorf("config file %s: %v", path, err)}
	}
	if len(doc.Content) == 0 { // an empty file sets nothing
		return nil, nil
	}
	r := &fileReader{path: path, fs: fs, out: map[string]fileSetting{}}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []error{fmt.Errorf("%s:%d: a configuration file is a mapping of setting: value", path, root.Line)}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if allowed, ok := sections[k.Value]; ok {
			r.section(k.Value, allowed, v)
			continue
		}
		r.setting(k.Value, k, v, nil)
	}
	return r.out, r.problems
}

// fileReader collects the settings and problems of one file.
type fileReader struct {
	path     string
	fs       *pflag.FlagSet
	out      map[string]fileSetting
	problems []error
}

func (r *fileReader) bad(n *yaml.Node, format string, args ...any) {
	r.problems = append(r.problems, fmt.Errorf("%s:%d: %s", r.path, n.Line, fmt.Sprintf(format, args...)))
}

func (r *fileReader) section(name string, allowed []string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		r.bad(v, "%s must be a mapping of setting: value", name)
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		r.setting(name+"."+v.Content[i].Value, v.Content[i], v.Content[i+1], allowed)
	}
}

// setting records key (a flag name, maybe camelCase, maybe under a
// section) = v. allowed limits the flags of a section; nil allows any.
func (r *fileReader) setting(key string, k, v *yaml.Node, allowed []string) {
	leaf := key[strings.LastIndex(key, ".")+1:]
	name := kebab(leaf)
	f := r.fs.Lookup(name)
	switch {
	case f == nil || notInFile[name]:
		if clientOnly[name] {
			r.bad(k, "unknown setting %q: it is a client setting (ConsumerConfig in Go, a flag of `goqueue consume`), not the broker's", key)
			return
		}
		r.bad(k, "unknown setting %q (the keys are the flags' names; see goqueue --help)", key)
		return
	case allowed != nil && !slices.Contains(allowed, name):
		r.bad(k, "%q is not a consumer setting; put %s at the top level", key, name)
		return
	}
	if prev, dup := r.out[name]; dup {
		r.bad(k, "%s is set twice (also at %s)", key, prev.where)
		return
	}
	val, err := scalar(v)
	if err != nil {
		r.bad(v, "%s: %v", key, err)
		return
	}
	if _, list := f.Value.(*lenient).Value.(pflag.SliceValue); !list && resolved(v).Kind == yaml.SequenceNode {
		// Comma-joined, [a, b] would reach a single-valued flag as "a,b",
		// which some (addresses, names) would take.
		r.bad(v, "%s takes one value, not a list", key)
		return
	}
	r.out[name] = fileSetting{value: val, where: fmt.Sprintf("%s:%d %s", r.path, k.Line, key)}
}

// scalar turns a YAML value into a flag's text: a scalar as written, a
// list of scalars comma-joined (api-keys).
func scalar(v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", errors.New("has no value")
		}
		return v.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || strings.Contains(e.Value, ",") {
				return "", errors.New("a list must hold plain values without commas")
			}
			parts = append(parts, e.Value)
		}
		return strings.Join(parts, ","), nil
	case yaml.AliasNode:
		return scalar(v.Alias)
	}
	return "", errors.New("must be a single value, not a mapping")
}

// resolved is v with its aliases followed.
func resolved(v *yaml.Node) *yaml.Node {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	return v
}

// kebab turns a camelCase key into a flag name: sessionTimeout →
// session-timeout. A key already in kebab case is unchanged.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return strings.ReplaceAll(b.String(), "_", "-")
}
