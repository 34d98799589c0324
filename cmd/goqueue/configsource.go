package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// origins maps a flag's name to where its value came from: "flag",
// "env GOQUEUE_X" or "file PATH:LINE KEY". A flag absent has its default.
type origins map[string]string

// loadSettings completes fs after the command line was parsed: the flags
// not given there come from the configuration file (--config, else
// GOQUEUE_CONFIG), then from their GOQUEUE_* variables, which win over the
// file. Problems are appended, not returned, so that one run reports every
// problem of the command line, the file and the environment together.
func loadSettings(fs *pflag.FlagSet, lookup func(string) (string, bool), problems *[]error) origins {
	o := origins{}
	fs.Visit(func(f *pflag.Flag) { o[f.Name] = "flag" })
	path := fs.Lookup("config").Value.String()
	if !fs.Changed("config") {
		path, _ = lookup(configEnv)
	}
	if path != "" {
		settings, errs := readConfigFile(path, fs)
		*problems = append(*problems, errs...)
		for name, s := range settings {
			f := fs.Lookup(name)
			if f.Changed {
				continue
			}
			if err := setQuietly(f, s.value); err != nil {
				*problems = append(*problems, fmt.Errorf("%s %q: %v", s.where, s.value, err))
				continue
			}
			o[name] = "file " + s.where
		}
	}
	for _, name := range applyEnv(fs, lookup, problems) {
		o[name] = "env " + envName(name)
	}
	return o
}

// checkSettings completes fs (loadSettings) and validates cfg. A value
// refused by validation is said with where it was set, as a bad value of
// the file or the environment already is while parsing.
func checkSettings(fs *pflag.FlagSet, lookup func(string) (string, bool), cfg *config, problems *[]error) (origins, error) {
	o := loadSettings(fs, lookup, problems)
	if err := cfg.validate(*problems); err != nil {
		return o, o.locate(err, fs)
	}
	return o, nil
}

// locate prefixes each problem of err that names a setting given in the
// file or the environment with where it was given. Validation messages
// start with the setting's name in words ("max wait -1s must be
// positive" for --max-wait): that is how a problem names its setting.
// Problems of values set on the command line or left at their default
// are left as they are; the user sees where those came from.
func (o origins) locate(err error, fs *pflag.FlagSet) error {
	problems := flatten(err)
	for i, p := range problems {
		msg := p.Error()
		name := ""
		fs.VisitAll(func(f *pflag.Flag) {
			words := strings.ReplaceAll(f.Name, "-", " ")
			if strings.HasPrefix(msg, words+" ") && len(f.Name) > len(name) {
				name = f.Name
			}
		})
		src, ok := strings.CutPrefix(o[name], "file ")
		if !ok {
			src, ok = strings.CutPrefix(o[name], "env ")
		}
		if name != "" && ok {
			problems[i] = fmt.Errorf("%s: %w", src, p)
		}
	}
	return errors.Join(problems...)
}

// flatten lists the problems of errors joined, at any depth.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// configCmd is `goqueue config`: it takes the serving flags, resolves them
// as serving would, and prints the effective configuration as a YAML file
// (which --config reads back) with where each value came from. A
// configuration that serving would refuse is refused the same way.
func configCmd(lookupEnv func(string) (string, bool), stdout io.Writer) *cobra.Command {
	var (
		cfg      config
		problems []error
	)
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective broker configuration and where each value came from",
		Long: `goqueue config takes the flags, environment and --config file that serving
takes, and prints every setting as YAML with its source: default, file, env or
flag. Its output is itself a valid --config file (API keys are not shown).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := checkSettings(cmd.Flags(), lookupEnv, &cfg, &problems)
			if err != nil {
				return &configError{err}
			}
			return printSettings(stdout, cmd.Flags(), o)
		},
	}
	cmd.Flags().SortFlags = false
	flagSet(cmd.Flags(), &cfg, &problems)
	return cmd
}

// printSettings writes one "name: value  # source" line per setting.
func printSettings(w io.Writer, fs *pflag.FlagSet, o origins) error {
	var b strings.Builder
	fs.VisitAll(func(f *pflag.Flag) {
		if notInFile[f.Name] {
			return
		}
		src := o[f.Name]
		if src == "" {
			src = "default"
		}
		val := f.Value.String()
		if sv, ok := f.Value.(*lenient).Value.(pflag.SliceValue); ok {
			list := sv.GetSlice()
			if f.Name == "api-keys" {
				// Keys are secrets: never printed. Said loudly, since a
				// broker started from this output alone has no keys.
				fmt.Fprintf(&b, "# %s: %d key(s), not shown  # %s\n", f.Name, len(list), src)
				if len(list) > 0 {
					fmt.Fprintf(&b, "# a broker started from this file alone has NO API keys: give them with --api-keys or GOQUEUE_API_KEYS\n")
				}
				return
			}
			val = strings.Join(list, ",")
		}
		if f.Value.Type() == "string" || val == "" {
			val = yamlScalar(val) // numbers, durations and sizes need no quotes
		}
		fmt.Fprintf(&b, "%s: %s  # %s\n", f.Name, val, src)
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar quotes s as YAML would need to read it back as the same text.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}
