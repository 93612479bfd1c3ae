package stream

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
)

// javaMurmur2 are org.apache.kafka.common.utils.UtilsTest.testMurmur2's
// vectors: the Java client places a key on (hash & 0x7fffffff) % partitions.
var javaMurmur2 = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
}

func partitionList(n int) []int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return ps
}

func TestBalancerPlacesKeysLikeJava(t *testing.T) {
	b := partitionBalancer{byKey: &kafka.Murmur2Balancer{}}
	for _, n := range []int{1, 3, 7, 12, 48, 1000} {
		for _, v := range javaMurmur2 {
			t.Run(fmt.Sprintf("%s/%d", v.key, n), func(t *testing.T) {
				want := int((uint32(v.hash) & 0x7fffffff) % uint32(n))
				got := b.Balance(kafka.Message{Key: []byte(v.key)}, partitionList(n)...)
				if got != want {
					t.Fatalf("partition = %d, want %d (Java)", got, want)
				}
			})
		}
	}
}

func TestBalancerHonoursAtPartition(t *testing.T) {
	b := partitionBalancer{byKey: &kafka.Murmur2Balancer{}}
	for p := range 12 {
		// "foobar" hashes to 6 of 12; the explicit choice must win
		msg := AtPartition(kafka.Message{Topic: "changelog", Key: []byte("foobar")}, p)
		if got := b.Balance(msg, partitionList(12)...); got != p {
			t.Fatalf("AtPartition(%d): partition = %d", p, got)
		}
		if msg.Topic != "changelog" || string(msg.Key) != "foobar" {
			t.Fatalf("AtPartition changed the message: %+v", msg)
		}
	}
}
