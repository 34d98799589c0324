package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/console"
)

// Scoped API keys, in the manner of Kafka ACLs and NATS accounts. A key is
// either bare (full access, as before scopes existed) or KEY:RULES, where
// RULES are ';'-separated ACTION=PATTERNS and PATTERNS are '|'-separated
// names, a name ending in '*' being a prefix ("*" alone: everything):
//
//	ops-0123456789abcdef
//	app-0123456789abcdef:produce=orders*;consume=orders*|payments;group=billing*
//
// Actions and what they guard:
//
//	produce  topics: publish (messages, batches)
//	consume  topics: fetch; join a group subscribing to them
//	group    groups: membership and progress (join, heartbeat, poll, ack, nack,
//	         extend, leave, offsets, describe)
//	admin    topics and groups: create, delete, add partitions, DLQ replay,
//	         offsets reset (from a group: that one needs group or admin too),
//	         group delete
//
// Describing a topic needs any action on it. Lists (GET /topics, GET
// /groups) show only what the key may see. /metrics, /version and
// /openapi.json need only a valid key.

// action is one thing a key may be allowed to do.
type action uint8

const (
	actProduce action = iota
	actConsume
	actGroup
	actAdmin
	numActions
)

var actionNames = [numActions]string{"produce", "consume", "group", "admin"}

func (a action) String() string { return actionNames[a] }

// kind is the kind of resource an action is checked against.
type kind uint8

const (
	kindTopic kind = iota
	kindGroup
)

func (k kind) String() string { return [...]string{"topic", "group"}[k] }

// scope is what one key may do; nil means everything.
type scope struct {
	patterns [numActions][]string // per action; a trailing '*' is a prefix
}

// apiKey is one configured key: its digest (never the key) and scope.
type apiKey struct {
	digest [sha256.Size]byte
	scope  *scope // nil: full access
}

// ParseAPIKey parses one --api-keys entry: KEY or KEY:RULES (see the
// package's key syntax). It returns the key's secret part, for length
// checks, and an error naming what is wrong.
func ParseAPIKey(entry string) (secret string, err error) {
	_, err = parseKey(entry)
	secret, _, _ = strings.Cut(entry, ":")
	return secret, err
}

func parseKey(entry string) (apiKey, error) {
	secret, rules, scoped := strings.Cut(entry, ":")
	k := apiKey{digest: sha256.Sum256([]byte(secret))}
	if secret == "" {
		return k, fmt.Errorf("empty key")
	}
	if !scoped {
		return k, nil
	}
	var err error
	k.scope, err = parseRules(rules)
	return k, err
}

// parseRules parses a scoped key's RULES.
func parseRules(rules string) (*scope, error) {
	sc := &scope{}
	for rule := range strings.SplitSeq(rules, ";") {
		if rule == "" {
			continue
		}
		name, pats, ok := strings.Cut(rule, "=")
		a := actionByName(name)
		if !ok || a == numActions {
			return sc, fmt.Errorf("rule %q: want ACTION=PATTERN[|PATTERN...] with ACTION produce, consume, group or admin", rule)
		}
		for p := range strings.SplitSeq(pats, "|") {
			if p == "" || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
				return sc, fmt.Errorf("rule %q: pattern %q must be a name, or a prefix ending in one '*'", rule, p)
			}
			sc.patterns[a] = append(sc.patterns[a], p)
		}
	}
	return sc, nil
}

// rules is the scope as a key's RULES, which parseRules reads back as
// the same scope: how a request passed to another node carries its key's
// permissions (ServePeer). nil for full access.
func (sc *scope) rules() *string {
	if sc == nil {
		return nil
	}
	var b strings.Builder
	for a, pats := range sc.patterns {
		if len(pats) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(actionNames[a] + "=" + strings.Join(pats, "|"))
	}
	s := b.String()
	return &s
}

func actionByName(s string) action {
	for a, n := range actionNames {
		if n == s {
			return action(a)
		}
	}
	return numActions
}

// allows reports whether the scope (nil: full access) lets its key do a
// on the resource named name.
func (sc *scope) allows(a action, name string) bool {
	if sc == nil {
		return true
	}
	for _, p := range sc.patterns[a] {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) || p == name {
			return true
		}
	}
	return false
}

// sees reports whether the scope allows anything at all on a resource of
// kind k named name: what a list shows and a describe needs.
func (sc *scope) sees(k kind, name string) bool {
	for a := range numActions {
		applies := a == actAdmin || (a == actGroup) == (k == kindGroup)
		if applies && sc.allows(a, name) {
			return true
		}
	}
	return false
}

// permission is the rule of one route: what its caller must be allowed to
// do on the resource its path names. Routes whose resource is in the body
// (create topic, join) check it in the handler too.
type permission struct {
	anyKey   bool // a valid key is enough (health, metrics, lists that filter)
	describe bool // any action on the path's resource
	action   action
	kind     kind
}

// routePermissions has one rule per pattern of routes(). A route missing
// here needs a full-access key (and fails TestAuthorizationMatrix).
var routePermissions = map[string]permission{
	"GET /healthz":      {anyKey: true},
	"GET /livez":        {anyKey: true},
	"GET /readyz":       {anyKey: true},
	"GET /version":      {anyKey: true},
	"GET /metrics":      {anyKey: true},
	"GET /openapi.json": {anyKey: true},
	"GET /cluster":      {anyKey: true}, // topology, as Kafka's Metadata shows any client
	"GET /stream":       {anyKey: true}, // each SUBSCRIBE is checked as a poll of its group and member, each PRODUCE as a publish

	"POST /topics":                                        {anyKey: true}, // admin on the body's name, in createTopic
	"GET /topics":                                         {anyKey: true}, // filtered
	"GET /topics/{topic}":                                 {describe: true, kind: kindTopic},
	"DELETE /topics/{topic}":                              {action: actAdmin, kind: kindTopic},
	"POST /topics/{topic}/partitions":                     {action: actAdmin, kind: kindTopic},
	"POST /topics/{topic}/messages":                       {action: actProduce, kind: kindTopic},
	"POST /topics/{topic}/batches":                        {action: actProduce, kind: kindTopic},
	"GET /topics/{topic}/partitions/{partition}/messages": {action: actConsume, kind: kindTopic},
	"POST /producers":                                     {anyKey: true}, // an ID alone writes nothing; its batches need produce
	"PATCH /topics/{topic}":                               {action: actAdmin, kind: kindTopic},
	"POST /topics/{topic}/dlq/replay":                     {action: actAdmin, kind: kindTopic},
	"DELETE /topics/{topic}/dlq":                          {action: actAdmin, kind: kindTopic},
	"GET " + console.Prefix:                               {anyKey: true}, // public files without data (publicRoutes)

	"POST /groups/{group}/join":          {action: actGroup, kind: kindGroup}, // + consume on its topics, in joinGroup
	"POST /groups/{group}/heartbeat":     {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/leave":         {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/poll":          {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/ack":           {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/nack":          {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/extend":        {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/offsets":       {action: actGroup, kind: kindGroup},
	"GET /groups/{group}/offsets":        {action: actGroup, kind: kindGroup},
	"GET /groups/{group}":                {action: actGroup, kind: kindGroup},
	"GET /groups/{group}/lag-history":    {action: actGroup, kind: kindGroup},
	"GET /groups/{group}/rebalances":     {action: actGroup, kind: kindGroup},
	"POST /groups/{group}/offsets/reset": {action: actAdmin, kind: kindGroup},
	"DELETE /groups/{group}":             {action: actAdmin, kind: kindGroup},
	"GET /groups":                        {anyKey: true}, // filtered
}

// scopeKey carries the caller's scope in the request context.
type scopeKey struct{}

// callerScope is the scope of r's key (nil: full access, or no keys).
func callerScope(r *http.Request) *scope {
	sc, _ := r.Context().Value(scopeKey{}).(*scope)
	return sc
}

// authenticate finds the key r carries. ok is false if keys are set and r
// carries none of them.
func (s *Server) authenticate(r *http.Request) (sc *scope, ok bool) {
	if len(s.keys) == 0 {
		return nil, true
	}
	given := r.Header.Get("X-API-Key")
	if given == "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
			given = strings.TrimSpace(auth[7:])
		}
	}
	if given == "" {
		return nil, false
	}
	i := matchKey(s.keys, given)
	if i < 0 {
		return nil, false
	}
	return s.keys[i].scope, true
}

// authorize checks the scope of r's key against the rule of the route the
// mux matched (r.Pattern), for the resource its path names.
func authorize(r *http.Request) error {
	sc := callerScope(r)
	if sc == nil {
		return nil
	}
	p, ok := routePermissions[r.Pattern]
	switch {
	case !ok:
		return api.ErrForbidden.Withf("%s needs a key with full access", r.Pattern).WithDetail("route", r.Pattern)
	case p.anyKey:
		return nil
	}
	name := r.PathValue(p.kind.String())
	if p.describe {
		return allowSee(r, p.kind, name)
	}
	return allow(r, p.action, p.kind, name)
}

// allowSee returns a coded 403 unless r's key may do anything at all on
// the resource of kind k named name (scope.sees): what describing it
// needs, and reading a group's offsets to copy them (a reset to
// from_group, whose dry run answers them).
func allowSee(r *http.Request, k kind, name string) error {
	if visible(r, k, name) {
		return nil
	}
	need := "produce|consume|admin"
	if k == kindGroup {
		need = "group|admin"
	}
	return api.ErrForbidden.Withf("this API key has no permission on %s %q; it needs one of %s", k, name, need).
		WithDetail("permission", need).WithDetail(k.String(), name)
}

// allow returns a coded 403 naming the missing permission unless r's key
// may do a on the resource of kind k named name.
func allow(r *http.Request, a action, k kind, name string) error {
	if callerScope(r).allows(a, name) {
		return nil
	}
	verb := a.String()
	if a == actGroup {
		verb = "use" // not "may not group group"
	}
	return api.ErrForbidden.Withf("this API key may not %s %s %q; it needs %s=%s", verb, k, name, a, name).
		WithDetail("permission", a.String()).WithDetail(k.String(), name)
}

// allowMember refuses a scoped key a call made as memberID of group unless
// the key may consume every topic that member subscribes to. The join
// checks the topics it names, but member IDs are listed by GET
// /groups/{g}: without this a key scoped to a group could poll, ack or
// commit as another member, reading or dropping topics it may not consume.
func (s *Server) allowMember(r *http.Request, group, memberID string) error {
	if callerScope(r) == nil {
		return nil
	}
	for _, topic := range s.b.MemberTopics(group, memberID) {
		if err := allow(r, actConsume, kindTopic, topic); err != nil {
			return err
		}
	}
	return nil
}

// visible reports whether r's key may see the resource (lists filter by it).
func visible(r *http.Request, k kind, name string) bool {
	sc := callerScope(r)
	return sc == nil || sc.sees(k, name)
}

// parseKeys parses the configured keys; New has them validated by the
// configuration, so a bad one here is skipped (it can never match).
func parseKeys(entries []string) []apiKey {
	var out []apiKey
	for _, e := range entries {
		if k, err := parseKey(e); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// matchKey compares given with every key in constant time and returns the
// index of the one it matches, or -1: comparing digests hides the keys'
// lengths, and every key is compared (no early return), so timing says
// nothing about which key nearly matched.
func matchKey(keys []apiKey, given string) int {
	g := sha256.Sum256([]byte(given))
	found := -1
	for i := range keys {
		eq := subtle.ConstantTimeCompare(keys[i].digest[:], g[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}

// Routes lists the pattern of every route served, for tests that must
// cover each one.
func Routes() []string {
	var s Server // routes only takes method values; nothing is called
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}
