package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A golden transcript (testdata/*.txt of the group state machines) is a
// sequence of blocks separated by blank lines: comment lines (#), one
// command, "----", and the expected output, each line ending in \n.
// Transcripts replays them; with update it rewrites each file with the
// output the commands give now, keeping the comments.

// TranscriptRun runs one command of a transcript and returns its output
// and the invariants the command broke (each reported as an error).
type TranscriptRun func(cmd string) (out string, broken []string)

// Transcripts replays every file matching glob as a subtest: start makes
// the fresh system one file's commands run against.
func Transcripts(t *testing.T, glob string, update bool, start func(t *testing.T) TranscriptRun) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in %s: %v", glob, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			blocks := parseTranscript(t, string(raw))
			run := start(t)
			var out strings.Builder
			for i, b := range blocks {
				got, broken := run(b.cmd)
				for _, v := range broken {
					t.Errorf("%s block %d: %s: %s", f, i+1, b.cmd, v)
				}
				if !update && got != b.want {
					t.Errorf("%s block %d: %s\n%s", f, i+1, b.cmd, cmp.Diff(b.want, got))
				}
				if i > 0 {
					out.WriteString("\n")
				}
				out.WriteString(b.comments + b.cmd + "\n----\n" + got)
			}
			if update {
				if err := os.WriteFile(f, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type transcriptBlock struct {
	comments string // each line ends in \n
	cmd      string
	want     string // each line ends in \n
}

func parseTranscript(t *testing.T, s string) []transcriptBlock {
	t.Helper()
	var blocks []transcriptBlock
	var b transcriptBlock
	inOut := false
	flush := func() {
		if b.cmd != "" {
			blocks = append(blocks, b)
		}
		b, inOut = transcriptBlock{}, false
	}
	for _, line := range strings.Split(s, "\n") {
		switch {
		case inOut && line == "":
			flush()
		case inOut:
			b.want += line + "\n"
		case line == "----":
			if b.cmd == "" {
				t.Fatalf("---- without a command")
			}
			inOut = true
		case strings.HasPrefix(line, "#"):
			b.comments += line + "\n"
		case line == "":
		default:
			if b.cmd != "" {
				t.Fatalf("two commands in one block: %q, %q", b.cmd, line)
			}
			b.cmd = line
		}
	}
	flush()
	return blocks
}
