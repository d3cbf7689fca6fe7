package local

// The Lambda test function in testdata/lambda imports aws-lambda-go; testdata
// is invisible to `go mod tidy`, so this import keeps the module required.
import _ "github.com/aws/aws-lambda-go/lambda"
