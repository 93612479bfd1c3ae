package generator_test

import (
	"fmt"
	"os"

	"github.com/postbackd/postbackd/processors/devtools/generator"
)

func Example() {
	g := generator.New(generator.Config{Seed: 1, Devices: 2, SingleDeviceUsers: true})
	for range 6 {
		r := g.Next()
		fmt.Println(r.Time.Format("Jan 2 15:04"), r.Kind, r.DeviceID)
	}
	// Output:
	// Mar 2 12:52 click 5E41AB08-7439-411E-BAC7-C19992654419
	// Mar 2 18:28 click web-e9fd6049d65af21e
	// Mar 10 12:38 click web-e9fd6049d65af21e
	// Mar 10 23:26 click 5E41AB08-7439-411E-BAC7-C19992654419
	// Mar 11 00:50 event 5E41AB08-7439-411E-BAC7-C19992654419
	// Mar 11 00:55 event 5E41AB08-7439-411E-BAC7-C19992654419
}

func ExampleWriteJSONLines() {
	g := generator.New(generator.Config{Seed: 7, Devices: 1})
	if err := generator.WriteJSONLines(os.Stdout, g, 2); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"kind":"event","event_id":"ev-b8b4c2977eabce45-1","app_id":"com.example.shop","platform":"ios","device_id":"B8B4C297-7EAB-4E45-B7A9-5E256CEF0359","type":"install","ts":"2026-03-02T13:27:20Z"}
	// {"kind":"event","event_id":"ev-b8b4c2977eabce45-2","app_id":"com.example.shop","platform":"ios","device_id":"B8B4C297-7EAB-4E45-B7A9-5E256CEF0359","type":"custom_event","ts":"2026-03-02T13:34:32Z","name":"tutorial_complete"}
}
