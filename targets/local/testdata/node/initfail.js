// A handler whose module throws while it loads.
console.log('initfail loading');
throw new Error('boom: cannot load as told');
