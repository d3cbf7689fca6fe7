package stack_test

import (
	"errors"
	"fmt"

	"github.com/seedbed/seedbed/stack"
)

func ExampleParse() {
	st, err := stack.Parse([]byte(`services:
  api:
    path: services/api
    runtime: go
    functions:
      hello:
        routes: ["GET /hello", "ANY /hello/{proxy+}"]
        timeout: 10s
stages:
  - name: dev
    branch: main
  - name: prod
    approval: true
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fn := st.Services[0].Functions[0]
	fmt.Println(st.Services[0].Name, fn.Name, fn.Handler, fn.Routes, fn.Timeout)
	for _, sg := range st.Stages {
		fmt.Println(sg.Name, sg.Branch, sg.Approval)
	}
	// Output:
	// api hello bootstrap [GET /hello ANY /hello/{proxy+}] 10s
	// dev main false
	// prod  true
}

func ExampleProblems() {
	_, err := stack.Parse([]byte(`services:
  api:
    path: ../../etc
    runtime: rust
    functions:
      hello:
        routes: ["GET /hello", "GET /hello"]
`))
	fmt.Println(err)
	var probs stack.Problems
	if errors.As(err, &probs) {
		fmt.Println(len(probs), "problems; the first is on line", probs[0].Line)
	}
	// Output:
	// seedbed.yml:3: services.api.path: "../../etc" leads outside the repository root; give a folder inside it, e.g. services/api (or . for the root)
	// seedbed.yml:4: services.api.runtime: unknown runtime "rust"; valid runtimes: go, node, python, static, process
	// seedbed.yml:7: services.api.functions.hello.routes[1]: route "GET /hello" of function api/hello overlaps "GET /hello" of function api/hello (line 7); each method and path may be served by one function only
	// 3 problems; the first is on line 3
}
