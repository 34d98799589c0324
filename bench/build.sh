# Sourced by bench/run.sh and bench/cluster.sh.
# build_goqueue ROOT OUT REF: builds GoQueue's binary into OUT/bin/goqueue
# from commit REF of the repository at ROOT, from a clean export of it so
# uncommitted work in the tree is not measured (REF "tree": the tree as it
# is), and sets GQ_DESC to what was built.
build_goqueue() {
  local root=$1 out=$2 ref=$3
  mkdir -p "$out/bin"
  if [[ $ref == tree ]]; then
    (cd "$root" && go build -o "$out/bin/goqueue" ./cmd/goqueue)
    GQ_DESC="$(cd "$root" && git rev-parse --short HEAD) plus the uncommitted changes of the tree"
  else
    rm -rf "$out/src"; mkdir -p "$out/src"
    (cd "$root" && git archive "$ref") | tar -x -C "$out/src"
    (cd "$out/src" && go build -o "$out/bin/goqueue" ./cmd/goqueue)
    GQ_DESC="$(cd "$root" && git rev-parse --short "$ref") ($ref)"
  fi
}
