def greet(path):
    return "hello from python at " + path
