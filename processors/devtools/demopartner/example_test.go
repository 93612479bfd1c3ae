package demopartner_test

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/postbackd/postbackd/processors/devtools/demopartner"
)

func Example() {
	s := demopartner.New(zap.NewNop())
	url, err := s.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for range 2 { // a retry after a lost answer: the partner sees it twice
		req, _ := http.NewRequest(http.MethodGet, url+"/p/adnet/postback?type=install", nil)
		req.Header.Set("Idempotency-Key", "5f1c0e")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	st := s.Stats().Partners["adnet"]
	fmt.Println(st.Received, st.Unique, st.Duplicates, st.ByType["install"])
	// Output: 2 1 1 1
}
