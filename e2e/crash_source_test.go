package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// crashSource is the legacy API of the crash test: a list of items that a
// seeded script edits one step at a time. Once started it advances one
// step after every request it serves, so that every poll sees a new
// version, until the script has made its number of item changes; then the
// data stays still.
//
// Every value an item ever takes carries the step that wrote it ("v"), so
// no value repeats and a transition (key, before, after) can happen only
// once: a second webhook for it is a duplicate, never a new change.
type crashSource struct {
	mu        sync.Mutex
	rng       *rand.Rand
	items     map[int][]byte // id → the item's JSON, as encoding/json writes it
	deleted   []int          // ids free to be created again
	nextID    int
	step      int // steps applied so far
	target    int // item changes in the script
	perStep   int // average item changes per step
	advancing bool
	final     bool                       // the script is done and its last version was served
	changes   int                        // item changes applied (created, updated, deleted)
	values    map[string]map[string]bool // key → every value the item ever had
	requests  int
	polled    chan struct{} // signalled (without blocking) after each request
}

// Bounds of the item count: the script creates below the first and deletes
// above the second, so the list neither dries up nor grows without end.
const (
	crashMinItems = 40
	crashMaxItems = 60
)

func newCrashSource(seed uint64, target, perStep int) *crashSource {
	s := &crashSource{
		rng:     rand.New(rand.NewPCG(seed, 1)),
		items:   map[int][]byte{},
		target:  target,
		perStep: perStep,
		values:  map[string]map[string]bool{},
		polled:  make(chan struct{}, 1),
	}
	for range 50 {
		s.write(s.nextID)
		s.nextID++
	}
	return s
}

var crashColors = []string{"red", "green", "blue", "amber", "violet"}

// write gives item id a new value, unique thanks to the step number, with
// nested fields so that patches are more than one replace.
func (s *crashSource) write(id int) {
	tags := []string{"t" + strconv.Itoa(s.rng.IntN(4))}
	if s.rng.IntN(2) == 0 {
		tags = append(tags, "t"+strconv.Itoa(4+s.rng.IntN(4)))
	}
	v, err := json.Marshal(map[string]any{
		"id":    id,
		"v":     s.step,
		"name":  fmt.Sprintf("item <%d> & co", id), // escaped alike by encoding/json and pollhook
		"attrs": map[string]any{"color": crashColors[s.rng.IntN(len(crashColors))], "size": s.rng.IntN(100), "tags": tags},
	})
	if err != nil {
		panic(err)
	}
	s.items[id] = v
	key := strconv.Itoa(id)
	if s.values[key] == nil {
		s.values[key] = map[string]bool{}
	}
	s.values[key][string(v)] = true
}

func (s *crashSource) create(id int) {
	s.write(id)
	s.changes++
}

// advance applies the next step of the script: about perStep changes to
// distinct items, mostly updates, some creates (half of them reusing the
// id of a deleted item) and some deletes.
func (s *crashSource) advance() {
	s.step++
	ids := s.ids()
	s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	touched := map[int]bool{}
	n := s.perStep/2 + s.rng.IntN(s.perStep+1)
	for range n {
		switch {
		case len(ids) == 0 || len(s.items) < crashMinItems || (len(s.items) <= crashMaxItems && s.rng.IntN(10) == 0):
			id := s.nextID
			if i := slices.IndexFunc(s.deleted, func(id int) bool { return !touched[id] }); i >= 0 && s.rng.IntN(2) == 0 {
				id = s.deleted[i]
				s.deleted = slices.Delete(s.deleted, i, i+1)
			} else {
				s.nextID++
			}
			touched[id] = true
			s.create(id)
		case len(s.items) > crashMaxItems || s.rng.IntN(9) == 0:
			id := ids[0]
			ids = ids[1:]
			touched[id] = true
			delete(s.items, id)
			s.deleted = append(s.deleted, id)
			s.changes++
		default:
			id := ids[0]
			ids = ids[1:]
			touched[id] = true
			s.write(id)
			s.changes++
		}
	}
}

func (s *crashSource) ids() []int {
	return slices.Sorted(maps.Keys(s.items))
}

func (s *crashSource) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	// Each item gets a fresh updated_at, which the job ignores: the body
	// changes at every request even where the data does not.
	now, _ := json.Marshal(time.Now().Format(time.RFC3339Nano))
	body := []byte(`{"items":[`)
	for i, id := range s.ids() {
		if i > 0 {
			body = append(body, ',')
		}
		v := s.items[id]
		body = append(body, v[:len(v)-1]...)
		body = append(body, `,"updated_at":`...)
		body = append(body, now...)
		body = append(body, '}')
	}
	body = append(body, `]}`...)
	s.requests++
	s.final = s.changes >= s.target
	if s.advancing && s.changes < s.target {
		s.advance()
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	select {
	case s.polled <- struct{}{}:
	default:
	}
}

// start makes every later request advance the script.
func (s *crashSource) start() {
	s.mu.Lock()
	s.advancing = true
	s.mu.Unlock()
}

// data returns the current items by key, as the item events carry them.
func (s *crashSource) data() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.items))
	for id, v := range s.items {
		out[strconv.Itoa(id)] = string(v)
	}
	return out
}

// progress returns the steps applied, the item changes they made and the
// requests served.
func (s *crashSource) progress() (step, changes, requests int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.step, s.changes, s.requests
}

// done reports whether the script is finished and its last version was
// served at least once.
func (s *crashSource) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.final
}

// had reports whether the item key ever had value: a webhook must not carry
// a value the source never served.
func (s *crashSource) had(key, value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key][value]
}
