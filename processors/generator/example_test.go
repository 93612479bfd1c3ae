package generator_test

import (
	"fmt"
	"os"

	"github.com/postbackd/postbackd/processors/generator"
)

func Example() {
	g := generator.New(generator.Config{Seed: 1, Devices: 2, SingleDeviceUsers: true})
	for range 3 {
		r := g.Next()
		fmt.Printf("%s %s\n", r.Kind, r.Value)
	}
	// Output:
}

func ExampleWriteJSONLines() {
	g := generator.New(generator.Config{Seed: 7, Devices: 1})
	if err := generator.WriteJSONLines(os.Stdout, g, 2); err != nil {
		fmt.Println(err)
	}
	// Output:
}
