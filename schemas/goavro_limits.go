package schemas

import "github.com/linkedin/goavro/v2"

// maxGoavroBlockCount bounds goavro's per-block item count, process-wide.
// goavro sizes an allocation from a block count read off the wire before
// reading the items (up to 2^31 by default): a 6-byte Confluent-framed raw
// message with a foreign schema holding an array or map could make it
// allocate tens of GB. Raw records are kilobytes, so 65,536 items per block
// is far beyond any real one; goavro's encoder splits larger maps and
// arrays into several blocks, which stays valid Avro.
const maxGoavroBlockCount = 1 << 16

func init() {
	if goavro.MaxBlockCount > maxGoavroBlockCount {
		goavro.MaxBlockCount = maxGoavroBlockCount
	}
}
