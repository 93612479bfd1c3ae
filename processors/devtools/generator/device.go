package generator

import (
	"encoding/hex"
	"strconv"

	"github.com/postbackd/postbackd/schemas"
)

// device is one simulated device of one app, with the plan of its current
// session. Its records come from plan[head:], in time order.
type device struct {
	idx      int32
	app      int32
	platform string
	id       string
	hash     string // 16 hex digits, unique per seed and device: the stem of its ids
	userID   string

	web         bool
	canRegister bool // the user signs up here (else on their other device)
	hasAccount  bool // the user has an account, so signs in with a login
	signedIn    bool // events carry user_id
	seq         uint32
	lastTx      uint32 // seq of the last purchase's transaction, 0 for none

	cursor int64 // time of the last planned step
	plan   []step
	head   int
	dup    []byte // the value of a pending duplicate step
}

// stepKind is what a planned step emits.
type stepKind uint8

const (
	stepTouch     stepKind = iota // a click or an impression from a partner
	stepInstall                   // install
	stepOpen                      // launch, or visit on web
	stepAction                    // an in-app action, chosen when it is emitted
	stepDuplicate                 // the previous event again (an SDK retry)
)

type step struct {
	at         int64 // unix seconds
	kind       stepKind
	impression bool
	retarget   bool
}

// next is the time of the device's next record.
func (d *device) next() int64 { return d.plan[d.head].at }

// splitmix64's finalizer: a bijection, so distinct inputs give distinct ids.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newDevice makes device idx: its app, platform and user follow from the
// seed and idx alone. Devices 2k and 2k+1 form a pair; when the pair is
// multi-device, both are the same user of the same app.
func (g *Generator) newDevice(idx int) *device {
	seed := uint64(g.cfg.Seed)
	pair := uint64(idx / 2)
	pairHash := mix(pair ^ mix(seed^0x5bd1e995))
	multi := float64(pairHash>>11)/(1<<53) < g.cfg.MultiDeviceUsers
	user := idx
	appPick := mix(uint64(idx) ^ mix(seed^0x27d4eb2f))
	if multi {
		user = idx &^ 1
		appPick = pairHash
	}
	app := g.cfg.Apps[appPick%uint64(len(g.cfg.Apps))]
	platform := app.Platforms[(appPick>>20)%uint64(len(app.Platforms))]

	hi := mix(uint64(idx) ^ mix(seed))
	lo := mix(hi ^ 0x632be59bd9b4e019)
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	d := &device{
		idx:         int32(idx),
		app:         int32(appPick % uint64(len(g.cfg.Apps))),
		platform:    platform,
		hash:        hex.EncodeToString(raw[:8]),
		web:         platform == schemas.PlatformWeb,
		canRegister: !multi || idx%2 == 0,
		hasAccount:  multi && idx%2 == 1,
		plan:        make([]step, 0, 8),
	}
	if multi {
		// Both devices of the pair must name the same user.
		uh := mix(uint64(user) ^ mix(seed))
		d.userID = "u-" + strconv.FormatUint(uh>>32, 16) + "-" + strconv.Itoa(user)
	} else {
		d.userID = "u-" + strconv.FormatUint(hi>>32, 16) + "-" + strconv.Itoa(user)
	}
	switch platform {
	case schemas.PlatformWeb:
		d.id = "web-" + d.hash
	default:
		d.id = uuid(raw, platform == schemas.PlatformIOS)
	}
	return d
}

// uuid formats raw as a version-4 style UUID, upper case for an iOS IDFA,
// lower case for an Android advertising id.
func uuid(raw [16]byte, upper bool) string {
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], raw[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], raw[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], raw[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], raw[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], raw[10:16])
	if upper {
		for i, c := range b {
			if c >= 'a' && c <= 'f' {
				b[i] = c - 'a' + 'A'
			}
		}
	}
	return string(b[:])
}
